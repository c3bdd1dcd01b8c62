"""Request and response models: the public contract, kept apart from the ORM."""
