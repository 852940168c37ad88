"""gait2hip: predict hip muscle forces and hip joint moments from walking joint angles."""

__version__ = "0.1.0"
