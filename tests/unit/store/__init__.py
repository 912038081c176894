"""Unit tests of chalicelib/store against moto's DynamoDB."""
