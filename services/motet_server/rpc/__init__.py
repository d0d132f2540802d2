"""What every Motet gRPC service shares: the server builder, the error table, the metrics."""
