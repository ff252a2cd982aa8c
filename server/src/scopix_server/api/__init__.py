"""HTTP layer: dependencies, the streaming multipart parser and one router per resource."""
