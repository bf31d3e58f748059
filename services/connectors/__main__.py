"""Run the connector service: python -m services.connectors."""

from services.common.logs import configure_logging
from services.common.runtime import serve
from services.connectors.app import create_app
from services.connectors.settings import ConnectorSettings


def main() -> None:
    """Read the settings once, configure logging, serve."""
    settings = ConnectorSettings()
    configure_logging("connectors", settings.log_level)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
