"""A small helpdesk on every protocol at once: mail in, IRC and a live web page, answers
mailed back from IRC. The routes are ``examples.helpdesk.app:routes``; see README.md."""
