"""Output shared by the benchmark scripts."""


def table(header: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown table: the first column left-aligned, the figures right-aligned."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
