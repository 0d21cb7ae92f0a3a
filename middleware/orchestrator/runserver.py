"""Development server: ``python runserver.py`` serves the API on port 5070."""
import os
import sys

from dispatcher.application import create_app
from dispatcher.errors import SettingsError


def main():
    try:
        app = create_app()
    except SettingsError as exc:
        print(f"orchestrator: cannot start: {exc}", file=sys.stderr)
        return 3
    port = int(os.environ.get("ORCHESTRATOR_PORT", "5070"))
    app.run(host=os.environ.get("ORCHESTRATOR_HOST", "0.0.0.0"), port=port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
