"""The shapes of the dashboard's charts, computed here and drawn as inline SVG by the templates."""
from datetime import datetime

COLOURS = {"Completed": "#2e7d32", "Failed": "#c62828", "Missed": "#9e9e9e", "Running": "#1565c0",
           "Submitted": "#f9a825"}


def seconds(stamp):
    """An ISO 8601 time of the API as epoch seconds (None stays None)."""
    return None if stamp is None else datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def sparkline(runs, width=120, height=24):
    """Bars of the recent runs (``runs`` newest first, as listed), oldest on the left: the
    height says how long each took, the colour its status."""
    runs = list(reversed(runs))
    took = [max((seconds(r["finished_at"]) or 0) - (seconds(r["started_at"]) or 0), 0)
            if r["started_at"] and r["finished_at"] else 0 for r in runs]
    longest = max(took, default=0) or 1
    step = width / max(len(runs), 1)
    bars = []
    for i, (run, spent) in enumerate(zip(runs, took)):
        tall = 4 + (height - 4) * spent / longest
        bars.append({"x": round(i * step, 1), "y": round(height - tall, 1), "width": round(max(step - 1, 1), 1),
                     "height": round(tall, 1), "colour": COLOURS.get(run["status"], "#777"),
                     "label": f"{run['status']} {run['scheduled_for']} ({spent:.2f} s)"})
    return {"width": width, "height": height, "bars": bars}


def timeline(runs, width=800, height=160):
    """The runs over time: x is when each was due, the bar's height how late it started
    (a Missed run reaches the top), the colour its status."""
    points = [(seconds(r["scheduled_for"]), r) for r in runs]
    if not points:
        return None
    first, last = min(p[0] for p in points), max(p[0] for p in points)
    span = (last - first) or 1
    late = {r["id"]: max(seconds(r["started_at"]) - due, 0) for due, r in points if r["started_at"]}
    latest = max(late.values(), default=0) or 1
    top, bottom, left, right = 10, height - 30, 10, width - 10
    bars = []
    for due, run in sorted(points, key=lambda p: p[0]):
        x = left + (right - left) * (due - first) / span
        lateness = late.get(run["id"])
        tall = (bottom - top) if run["status"] == "Missed" else 3 + (bottom - top - 3) * (lateness or 0) / latest
        started = "never started" if lateness is None else f"started {lateness:.3f} s late"
        bars.append({"x": round(x - 2, 1), "y": round(bottom - tall, 1), "width": 4, "height": round(tall, 1),
                     "colour": COLOURS.get(run["status"], "#777"), "run_id": run["id"],
                     "label": f"{run['status']}: due {run['scheduled_for']}, {started}"})
    return {"width": width, "height": height, "bars": bars, "baseline": bottom, "left": left, "right": right,
            "first": min(r["scheduled_for"] for _, r in points),
            "last": max(r["scheduled_for"] for _, r in points), "latest": latest if late else 0,
            "statuses": [(status, colour) for status, colour in COLOURS.items()]}
