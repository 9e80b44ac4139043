"""TikTok flow declarations (FlowSpec) for this half of the connector."""
FLOWS: tuple = ()
