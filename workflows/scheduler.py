def tick(ff):
    return 0
