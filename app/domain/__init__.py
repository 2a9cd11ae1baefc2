"""The domain, plain Python with no web or queue code: stories, example maps, Gherkin specs and their lint."""
