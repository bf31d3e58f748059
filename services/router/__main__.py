"""Run the router service: python -m services.router."""

from services.common.logs import configure_logging
from services.common.runtime import serve
from services.router.app import create_app
from services.router.settings import RouterSettings


def main() -> None:
    """Read the settings once, configure logging, serve."""
    settings = RouterSettings()
    configure_logging("router", settings.log_level)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
