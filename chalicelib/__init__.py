"""Domain code of the launch controller: everything the Lambdas import, free of side effects."""
