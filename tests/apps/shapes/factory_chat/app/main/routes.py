from . import main


@main.route("/")
def index():
    return "chat: connect to /chat and emit 'joined'"
