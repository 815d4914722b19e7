"""A Flask app with no SocketIO, and a name that is neither."""

from flask import Flask

app = Flask(__name__)
settings = {"debug": False}
