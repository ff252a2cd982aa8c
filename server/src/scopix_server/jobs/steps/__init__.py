"""The pipeline's steps; each module states what it needs, what it returns and how it fails."""
