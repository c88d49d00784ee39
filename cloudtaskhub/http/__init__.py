"""HTTP seedwork: problem details, pagination, auth dependency, operations endpoints."""
