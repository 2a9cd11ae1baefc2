"""One renderer per artifact the bot posts (comments, PR bodies, check runs), each with a hidden marker."""
