"""Online backup and restore (`flask backup PATH`, `flask restore PATH`). Placeholder: being built."""
import click


@click.command("backup")
def backup_command():
    """Take a consistent online backup (not built yet)."""
    raise click.ClickException("backup is not built yet.")


@click.command("restore")
def restore_command():
    """Restore a backup (not built yet)."""
    raise click.ClickException("restore is not built yet.")
