"""The Textual front end. It only calls core; it never touches the database directly."""
