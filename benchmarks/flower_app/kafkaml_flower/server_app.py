"""ServerApp: Flower's FedAvg over every connected client each round; each new global model is
evaluated on the held-out set (centralised evaluation, as our aggregator scores each version)
and recorded with its time."""

from __future__ import annotations

import json
import time

import keras
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from kafkaml_flower.task import compiled_model, load

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    keras.utils.set_random_seed(int(config["seed"]))
    model = compiled_model()
    x, y = load(str(config["data-dir"]), "heldout")
    record_path = str(config["record"])

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model.set_weights(arrays.to_numpy_ndarrays())
        loss, accuracy = model.evaluate(x, y, batch_size=256, verbose=0)
        with open(record_path, "a") as record:
            record.write(json.dumps({"round": server_round, "time": time.time(), "accuracy": float(accuracy),
                                     "loss": float(loss)}) + "\n")
        return MetricRecord({"accuracy": float(accuracy), "loss": float(loss)})

    nodes = int(config["min-nodes"])
    # Every client trains every round; no federated evaluation (ours has none either).
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=nodes, min_available_nodes=nodes)
    strategy.start(grid=grid, initial_arrays=ArrayRecord(model.get_weights()),
                   num_rounds=int(config["num-server-rounds"]),
                   train_config=ConfigRecord({"local-epochs": int(config["local-epochs"]),
                                              "batch-size": int(config["batch-size"])}),
                   evaluate_fn=evaluate)
