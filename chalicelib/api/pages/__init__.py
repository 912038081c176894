"""The HTML pages people open: the approval page and the launch pages."""
