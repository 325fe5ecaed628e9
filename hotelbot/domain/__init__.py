"""Domain rules of hotelbot, free of HTTP and of SQL."""
