"""Reading the frames of a :class:`~helo.data.base.VideoRef` with OpenCV."""
from __future__ import annotations

from helo.data.base import DataError, VideoRef


def iter_frames(ref: VideoRef, gray: bool = True):
    """Yield ``(frame or None, ok)`` for frames ``start_frame .. stop_frame - 1``; a frame the
    decoder cannot deliver yields ``(None, False)`` (so the caller keeps its place in time)."""
    import cv2
    cap = cv2.VideoCapture(str(ref.path))
    if not cap.isOpened():
        raise DataError("video cannot be opened", path=ref.path)
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        stop = ref.stop_frame if ref.stop_frame is not None else total
        if ref.start_frame:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(ref.start_frame))
        for _ in range(int(ref.start_frame), int(stop)):
            ok, frame = cap.read()
            if not ok or frame is None:
                yield None, False
                continue
            if gray and frame.ndim == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            yield frame, True
    finally:
        cap.release()
