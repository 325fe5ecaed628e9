"""hotelbot: the WhatsApp service hub of a hotel group."""

__version__ = "0.1.0"
