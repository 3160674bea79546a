namespace MoeDetect.Tests.Service.Fixtures;

/// <summary>A test that needs a real mosquitto broker; skipped, saying why, where none is installed.</summary>
public sealed class BrokerFactAttribute : FactAttribute
{
    public BrokerFactAttribute() => Skip = MosquittoBroker.Missing;
}
