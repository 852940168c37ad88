"""Raw motion capture -> labelled gait cycles with OpenSim (scale, IK, ID, SO)."""
