"""Random search for the minimum of a bumpy 2-D function (the program OpenEvolve evolves)."""

import numpy as np


# EVOLVE-BLOCK-START
def search_algorithm(iterations=1000, bounds=(-5, 5), starts=8):
    """Multi-start local search: a few spread-out starts, each refined with a step that shrinks
    while no neighbour improves; the best end point wins. A fixed seed gives the same answer on
    every call (what an evolved program of this kind typically converges to)."""
    rng = np.random.default_rng(20260101)
    best_x, best_y, best_value = 0.0, 0.0, evaluate_function(0.0, 0.0)
    for _ in range(starts):
        x, y = rng.uniform(bounds[0], bounds[1], size=2)
        value, step = evaluate_function(x, y), 1.0
        for _ in range(iterations // starts):
            nx = float(np.clip(x + rng.normal(0.0, step), bounds[0], bounds[1]))
            ny = float(np.clip(y + rng.normal(0.0, step), bounds[0], bounds[1]))
            candidate = evaluate_function(nx, ny)
            if candidate < value:
                x, y, value = nx, ny, candidate
            else:
                step = max(step * 0.97, 1e-4)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
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
