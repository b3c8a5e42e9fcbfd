def app(e, s): pass
