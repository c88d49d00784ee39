#!/usr/bin/env python3
"""Stand-in for Kafka's kafka-broker-api-versions.sh (the stack's health command):
send an ApiVersions (v0) request to --bootstrap-server and exit 0 on a well-formed
answer without error, 1 otherwise."""

import socket
import struct
import sys

server = (
    sys.argv[sys.argv.index("--bootstrap-server") + 1]
    if "--bootstrap-server" in sys.argv
    else "localhost:9092"
)
host, _, port = server.rpartition(":")
try:
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        body = struct.pack(">hhih", 18, 0, 7, -1)  # api key 18 v0, correlation 7, no client id
        connection.sendall(struct.pack(">i", len(body)) + body)
        header = connection.recv(4, socket.MSG_WAITALL)
        (size,) = struct.unpack(">i", header)
        answer = connection.recv(size, socket.MSG_WAITALL)
        correlation, error = struct.unpack(">ih", answer[:6])
except (OSError, struct.error, ValueError) as problem:
    print(f"no ApiVersions answer from {server}: {problem}", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if correlation == 7 and error == 0 else 1)
