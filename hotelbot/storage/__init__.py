"""SQL lives here: verb-named functions that take the connection first and,
for tenant data, the tenant id as a required argument."""
