"""(being written)"""
def fan_out(ff, conn, event, now):
    return 0
def execute(ff, run_id):
    return None
