"""Practice-scale data for the benchmark (`flask seed-scale`). Placeholder: being built."""
import click


@click.command("seed-scale")
def seed_scale():
    """Fill the database with practice-scale data (not built yet)."""
    raise click.ClickException("seed-scale is not built yet.")
