"""Services as real OS processes for tests (shared with the benchmark and chaos runs)."""

from deploy.local.procs import ServiceProcess, free_port
from services.common.settings import KafkaSettings, MongoSettings

__all__ = ["ServiceProcess", "free_port", "stack_env"]


def stack_env(kafka: KafkaSettings, mongo: MongoSettings, session_timeout_ms: int = 2000) -> dict[str, str]:
    """The variables every service process of a test needs: its topics, its database, a short session."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_SESSION_TIMEOUT_MS": str(session_timeout_ms),
        "MONGODB_URL": mongo.url.get_secret_value(),
        "MONGODB_DATABASE": mongo.database,
    }
