"""Stand-ins for what a lab talks to but a test or a screenshot cannot reach (Vultr,
Cloudflare, Sendamatic, an SMTP server, an SSH host): small real servers on 127.0.0.1 that
speak the documented protocol. Shipped in the package so an installed labtui can make every
screenshot; the test suite uses the same ones. Nothing in labtui's runtime imports them.
"""
