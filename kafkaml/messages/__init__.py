"""The control messages: their fields' checks (:mod:`~kafkaml.messages.fields`), the message kinds
(:mod:`~kafkaml.messages.kinds`) and the earlier Kafka-ML's data control form
(:mod:`~kafkaml.messages.legacy`). No Kafka here: topics are :mod:`kafkaml.control_topics`."""
