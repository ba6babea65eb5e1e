"""Database layer: SQLAlchemy 2 models, engine and schema creation."""
