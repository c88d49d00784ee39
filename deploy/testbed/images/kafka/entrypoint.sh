#!/bin/sh
# KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka:9092 (the stack's) -> tcp://kafka:9092.
set -eu
advertised=${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}
advertised=${advertised%%,*}
exec tansu broker \
    --listener-url tcp://0.0.0.0:9092 \
    --advertised-listener-url "tcp://${advertised#*://}" \
    --storage-engine memory://tansu/ "$@"
