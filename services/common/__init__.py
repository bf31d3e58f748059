"""Infrastructure the three services share: settings, Kafka, MongoDB, HTTP probes, logging."""
