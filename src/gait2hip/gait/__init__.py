"""What labelling and prediction share about gait, so that the same trial reaches a model the
same way at training and at prediction time: its events (:mod:`gait2hip.gait.events`: every
heel-strike detector, contacts, the labelled-cycle rule) and the filtering and resampling of
its angles onto cycle grids (:mod:`gait2hip.gait.signal`)."""
