"""Meta's WhatsApp Cloud API: webhook signatures and the Graph API client."""
