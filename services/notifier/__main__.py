"""Run the notifier service: python -m services.notifier."""

from services.common.logs import configure_logging
from services.common.runtime import serve
from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings


def main() -> None:
    """Read the settings once, configure logging, serve."""
    settings = NotifierSettings()
    configure_logging("notifier", settings.log_level)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
