"""The Open Service Broker API (v2.13 to v2.17) under ``/v2``: platforms such as Cloud Foundry
or Kubernetes offer Orchestrator's plans in their marketplace and provision accounts and keys
with no manual work.

- :mod:`.catalog`: the catalog built from the settings (pure);
- :mod:`.service`: the operations, over the accounts service and :mod:`.store`;
- :mod:`.routes`: openbrokerapi's routes, guarded (off, credentials, version), in the spec's
  error shape; :mod:`.reference`: their documentation.
"""
from dispatcher.broker import routes
from dispatcher.broker.catalog import build_catalog, check_settings
from dispatcher.broker.service import OrchestratorBroker
from dispatcher.broker.store import BrokerStore
from dispatcher.lib.secrets import registry as secrets


def init_app(app):
    """Register the ``/v2`` routes on ``app``; they answer 404 while the broker's credentials
    are unset, so that every configuration has the same routes (and the same documentation)."""
    config = app.config
    check_settings(config)
    credentials = routes.Credentials(config["BROKER_USERNAME"], config["BROKER_PASSWORD"])
    if credentials.enabled:
        secrets.add(credentials.password, credentials.encoded())
    broker = OrchestratorBroker(build_catalog(config), app.extensions["orchestrator.accounts"],
                                BrokerStore(app.extensions["orchestrator.engine"]), config["BROKER_API_URL"])
    app.extensions.update({"orchestrator.broker": broker, routes.CREDENTIALS: credentials})
    blueprint = routes.make_blueprint(broker)
    app.extensions["orchestrator.limiter"].count_by(blueprint, routes.rate_key)
    app.register_blueprint(blueprint)
    routes.document(app)
