from podium_client.cli import app

app(prog_name="podium")
