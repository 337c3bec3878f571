"""ClientApp: trains the received global model on this node's share (node config `partition-id`)
and, with node config `slowdown` f > 1, then waits (f − 1) × the training's time, exactly as our
trainers' SIMULATED_SLOWDOWN does (kafkaml/heterogeneity.py)."""

from __future__ import annotations

import time

import keras
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from kafkaml.heterogeneity import Heterogeneity
from kafkaml_flower.task import compiled_model, load

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    partition = int(context.node_config["partition-id"])
    config = msg.content["config"]
    keras.utils.set_random_seed(int(context.run_config["seed"]) + partition)
    x, y = load(str(context.run_config["data-dir"]), f"partition-{partition}")
    model = compiled_model()
    model.set_weights(msg.content["arrays"].to_numpy_ndarrays())
    started = time.monotonic()
    model.fit(x, y, epochs=int(config["local-epochs"]), batch_size=int(config["batch-size"]), shuffle=True, verbose=0)
    Heterogeneity(slowdown=float(context.node_config.get("slowdown", 1.0))).slow_down(time.monotonic() - started)
    content = RecordDict({"arrays": ArrayRecord(model.get_weights()), "metrics": MetricRecord({"num-examples": len(y)})})
    return Message(content=content, reply_to=msg)
