# EVOLVE-BLOCK-START
def answer():
    return 0.25 * 3
# EVOLVE-BLOCK-END
