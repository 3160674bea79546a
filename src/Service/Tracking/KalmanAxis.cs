namespace MoeDetect.Service.Tracking;

/// <summary>A constant-velocity Kalman filter along one box coordinate (centre x, centre y, width or height),
/// stepping once per processed frame. ByteTrack's 8-state filter has no coupling between coordinates, so four of
/// these are that filter; the noise scales with the box height as in ByteTrack (position 1/20, velocity 1/160).</summary>
internal struct KalmanAxis
{
    private const double PositionWeight = 1.0 / 20, VelocityWeight = 1.0 / 160;
    private double _p00, _p01, _p11;

    public KalmanAxis(double measured, double scale)
    {
        Value = measured;
        Velocity = 0;
        _p00 = Square(2 * PositionWeight * scale);
        _p01 = 0;
        _p11 = Square(10 * VelocityWeight * scale);
    }

    public double Value { get; private set; }
    public double Velocity { get; private set; }

    public void Predict(double scale)
    {
        Value += Velocity;
        _p00 += 2 * _p01 + _p11 + Square(PositionWeight * scale);
        _p01 += _p11;
        _p11 += Square(VelocityWeight * scale);
    }

    public void Correct(double measured, double scale)
    {
        double innovationVariance = _p00 + Square(PositionWeight * scale);
        double gainValue = _p00 / innovationVariance, gainVelocity = _p01 / innovationVariance;
        double residual = measured - Value;
        Value += gainValue * residual;
        Velocity += gainVelocity * residual;
        _p11 -= gainVelocity * _p01;
        _p00 *= 1 - gainValue;
        _p01 *= 1 - gainValue;
    }

    private static double Square(double x) => x * x;
}
