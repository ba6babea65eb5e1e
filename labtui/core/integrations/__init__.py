"""Clients of outside services (email, Vultr, Cloudflare): httpx, base URLs configurable."""
