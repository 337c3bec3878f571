"""A model's weights: as bytes (:mod:`kafkaml.weights.codec`, what hashes and audits need) and
through Kafka (:mod:`kafkaml.weights.transport`, what jobs that publish and fetch need)."""
