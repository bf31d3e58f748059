"""Run the preference service: python -m services.preference."""

from services.common.logs import configure_logging
from services.common.runtime import serve
from services.preference.app import create_app
from services.preference.settings import PreferenceSettings


def main() -> None:
    """Read the settings once, configure logging, serve."""
    settings = PreferenceSettings()
    configure_logging("preference", settings.log_level)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
