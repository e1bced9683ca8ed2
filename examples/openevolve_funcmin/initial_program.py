"""Random search for the minimum of a bumpy 2-D function (the program OpenEvolve evolves)."""

import numpy as np


# EVOLVE-BLOCK-START
def search_algorithm(iterations=1000, bounds=(-5, 5)):
    """Sample points uniformly and keep the lowest one seen."""
    best_x = np.random.uniform(bounds[0], bounds[1])
    best_y = np.random.uniform(bounds[0], bounds[1])
    best_value = evaluate_function(best_x, best_y)
    for _ in range(iterations):
        x = np.random.uniform(bounds[0], bounds[1])
        y = np.random.uniform(bounds[0], bounds[1])
        value = evaluate_function(x, y)
        if value < best_value:
            best_value, best_x, best_y = value, x, y
    return best_x, best_y, best_value
# EVOLVE-BLOCK-END


def evaluate_function(x, y):
    """The function to minimize (several local minima)."""
    return np.sin(x) * np.cos(y) + np.sin(x * y) + (x**2 + y**2) / 20


def run_search():
    x, y, value = search_algorithm()
    return x, y, value


if __name__ == "__main__":
    print(run_search())
